"""The Discord side: the client and command tree, launching jobs, cards, notices, delivery."""
