print("zofinetune")
