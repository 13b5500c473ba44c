"""Built-in tuner plugins (none yet: tuners arrive with the LwF and Fastfood issues)."""
