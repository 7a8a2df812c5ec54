"""ROS-free shared library: data contracts, geometry, message conversions, plan archive."""
