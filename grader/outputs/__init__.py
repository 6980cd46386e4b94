"""What grading writes: the score table and Gradescope's results.json."""
