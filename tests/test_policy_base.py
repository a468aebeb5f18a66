"""The base policy: system prompts (plain and self-teacher), parsing, reference rendering."""

from policies import Policy

from agentrl import ChatFormat, Trajectory


def test_system_prompt_with_reference_contains_guide_and_reference():
    p = Policy(system_prompt="SYS")
    assert p.system() == "SYS"
    teacher = p.system("Task: x\nStep 1 action: guess[3]")
    assert teacher.startswith("SYS\n\n") and p.guide in teacher and teacher.endswith("guess[3]")


def test_parse_action_strips_think_blocks():
    assert Policy().parse_action("<think>\nhmm 12?\n</think>\n\n guess[12] ") == "guess[12]"


def test_render_reference_lists_replies_and_observations_and_marks_a_cut():
    text = Policy().render_reference("Find the number.", [("guess[16]", "16 is wrong; higher.")])
    assert text.splitlines() == ["Task: Find the number.", "Step 1 reply: guess[16]",
                                 "Step 1 observation: 16 is wrong; higher."]
    cut = Policy().render_reference("T", [("guess[5]", None)], omitted=3)
    assert cut.splitlines() == ["T".join(["Task: ", ""]), "[... 3 earlier steps omitted ...]", "Step 4 reply: guess[5]"]


def test_unverified_reference_gets_its_own_guide():
    p = Policy(system_prompt="SYS")
    unverified = p.system("REF", verified=False)
    assert p.guide_unverified in unverified and p.guide not in unverified
    assert "verified solution" not in unverified.replace("not verified", "")
