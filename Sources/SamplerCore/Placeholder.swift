// Placeholder until this part of the architecture lands.
