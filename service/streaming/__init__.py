"""Stateful streaming: open sessions (:mod:`.store`) and the step models that advance them (:mod:`.streams`)."""
