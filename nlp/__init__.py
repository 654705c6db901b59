"""Report NLP: sections, label mining, report structure."""
