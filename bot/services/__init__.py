"""Domain services: the business logic that handlers, the console, the CLI and jobs call."""
