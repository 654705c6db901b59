"""Review queues: radiologists read items (labels, masks, structure), double reading, adjudication, agreement."""
