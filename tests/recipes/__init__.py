"""The web-service recipes of the README, as importable modules the tests run."""
