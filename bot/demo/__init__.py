"""The offline demo: the project's LINE double, the simulator page, the one-process runner and its seed data."""
