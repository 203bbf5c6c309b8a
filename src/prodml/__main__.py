from prodml.cli import app

app(prog_name="prodml")
