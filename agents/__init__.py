"""The Faust app: topics, tables and agents. Thin glue over ``monitor``."""

from agents.app import create_app

__all__ = ["create_app"]
