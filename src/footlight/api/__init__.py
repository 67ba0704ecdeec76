"""The read API: sessions, replays, timelines and errors over JSON, behind bearer tokens."""
