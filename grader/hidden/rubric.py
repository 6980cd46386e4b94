"""Rubric rows of the hidden tests (appended to ``grader.rubric.RUBRIC`` when present)."""
from grader.rubric import Row  # defined before rubric.py imports this file

HIDDEN_ROWS = (
    Row("test_hidden_init_glorot_wide", "init", 2, "Glorot statistics on other layer sizes", hidden=True),
    Row("test_hidden_softmax_mixed_scales", "softmax", 1, "softmax on rows of very different scales",
        hidden=True),
    Row("test_hidden_forward_deep", "forward", 2, "forward pass with four hidden layers", hidden=True),
    Row("test_hidden_backward_deep", "backward", 3, "gradients through four hidden layers, batch 33",
        hidden=True),
    Row("test_hidden_train_loop_other_sizes", "train_loop", 2,
        "training with other sizes, learning rate and epochs", hidden=True),
    Row("test_hidden_finite_difference_last_layer", "finite_difference", 2,
        "central differences for the output layer", hidden=True),
)
