"""Django-free report label mining: sections, vocabulary, ConText scope, labeler, label spaces, review."""
