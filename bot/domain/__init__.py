"""The rules: catalogue, jobs and their states, money, limits, word filter, units, errors.

No discord and no I/O."""
