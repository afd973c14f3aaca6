"""`python -m gankit ...` (and `torchrun -m gankit ...`) runs the command line."""

from gankit.cli import main

if __name__ == "__main__":
    main()
