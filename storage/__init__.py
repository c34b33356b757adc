"""Persistence: SQLAlchemy models, repositories, the session factory and migrations."""
