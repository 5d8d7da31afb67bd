"""_proto."""
