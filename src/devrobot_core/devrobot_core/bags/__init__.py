"""Session bags: writing and reading them, the disk budget, and importing original sessions."""
