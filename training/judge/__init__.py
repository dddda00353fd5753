"""The Judge: CAWS scenario pairs labelled by the arbiter (`pairs`), training and calibration (`trainer`)."""
