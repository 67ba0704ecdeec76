"""What the tests share, by concern: servers, stores, GraphQL, the CLI, waiting, the browser.

Fixtures live in the conftest.py files and call these; test modules import from here, never
from a conftest.
"""
