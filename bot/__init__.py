"""RM Assistant application core: settings, database, services, app assembly, CLI."""
