"""What an operator (a superuser) may see and do across every account."""
