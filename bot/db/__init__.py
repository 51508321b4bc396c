"""Database: declarative base, engine and session factory, models, Alembic migrations."""
