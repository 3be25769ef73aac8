"""Test support: real servers and real databases, never mocks."""
