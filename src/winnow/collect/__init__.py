"""Live collectors: receive logs or flows over the network and write them into the lake."""
