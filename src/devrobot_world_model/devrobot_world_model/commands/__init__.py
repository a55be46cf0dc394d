"""The `devrobot` subcommands of the world model: train, eval, bench, and their shared flags."""
