"""Local stand-ins for the providers the service talks to, served on 127.0.0.1 during tests."""
