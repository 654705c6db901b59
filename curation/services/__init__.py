"""Business logic as plain functions. Views, API, commands and tasks all call these."""
