"""Rubric rows of the hidden tests: ``(test, part, points, title)``, plain data.

``grader/rubric.py`` reads this file by its path when ``grader/hidden/`` is present (it imports
nothing, so the two modules do not depend on each other) and appends the rows, marked hidden.
"""

HIDDEN_ROWS = (
    ("test_hidden_init_glorot_wide", "init", 2, "Glorot statistics on other layer sizes"),
    ("test_hidden_softmax_mixed_scales", "softmax", 1, "softmax on rows of very different scales"),
    ("test_hidden_forward_deep", "forward", 2, "forward pass with four hidden layers"),
    ("test_hidden_backward_deep", "backward", 3, "gradients through four hidden layers, batch 33"),
    ("test_hidden_train_loop_other_sizes", "train_loop", 2,
     "training with other sizes, learning rate and epochs"),
    ("test_hidden_finite_difference_last_layer", "finite_difference", 2,
     "central differences for the output layer"),
)
