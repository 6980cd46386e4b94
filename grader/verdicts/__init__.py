"""Verdicts: everything that decides what the student's outputs are worth, in the trusted process.

``checks`` compares arrays and explains differences; ``cnn_checks`` judges the CNN parts;
``rules`` reads the Kaggle rules from the submission's source; ``scoring`` turns checks into a
test's fraction of its points; ``optimizer_patterns`` and ``substitutes`` compute buggy variants
and the reference methods served to the worker; ``cases`` draws the inputs; ``nn_parts`` grades
the NN's parts at given sizes for the visible and the hidden tests alike.
"""
