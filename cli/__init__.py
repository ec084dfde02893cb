"""The `targeting` command line: one module per group of commands, each calling the packages' functions."""
