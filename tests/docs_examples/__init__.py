"""The "Querying the store" page's examples: shown in the docs as they are, run by the tests."""
