"""Hidden tests: more sizes and seeds for the same parts. Not shipped in the student handout."""
