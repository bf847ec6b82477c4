"""Virtual footpod firmware: GATT database, streaming, standard services, faults."""
