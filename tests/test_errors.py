from dse.errors import DseError, NoValidMappingError
from dse.cli.errors import run_guarded


def test_error_message_names_place_and_accepted_values():
    err = DseError("unknown layer 'KQX'", where="run.py LAYER", accepted="KQV, KTQ, VScores")
    assert err.format() == "run.py LAYER: unknown layer 'KQX'. Accepted: KQV, KTQ, VScores."


def test_run_guarded_turns_errors_into_exit_codes(capsys):
    def bad():
        raise NoValidMappingError("nothing fits", where="Registers")

    assert run_guarded(bad) == 3
    assert "Registers: nothing fits." in capsys.readouterr().err
    assert run_guarded(lambda: None) == 0
