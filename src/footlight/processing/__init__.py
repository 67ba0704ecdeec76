"""Processing: turning what was stored into sessions, errors and timelines, in the background."""
