package main

func benchClientMain() bool { return false }
