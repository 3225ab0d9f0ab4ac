"""Sub-commands of `prevent-monitor`: one module a concern, each with `register(subparsers)`."""
