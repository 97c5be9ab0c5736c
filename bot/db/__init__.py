"""Database: models, engine and session factory, repositories."""
