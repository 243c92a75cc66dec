"""Editor-free analysis: abstract interpretation of autograd state over Python syntax trees."""
