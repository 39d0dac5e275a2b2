"""bench.hops counts a path's hops and its back-and-forth hops (A -> B -> A) from recorded call stacks."""

from __future__ import annotations

from bench.hops import PAGE, TARGET, counts, model_path

PAGE_RUN = (PAGE, "<module>")
ANALYSE = ("ui.classify_data", "analyse")
LOAD = ("core.models.registry", "load_model")


def test_a_call_back_into_a_module_on_the_stack_is_a_back_and_forth_hop() -> None:
    progress = (PAGE_RUN, ANALYSE, TARGET, ("core.predict", "classify.<locals>.report"), (PAGE, "update"))
    found = counts({progress[:i] for i in range(1, len(progress) + 1)})
    assert found["hops"] == 3  # page -> ui -> predict -> page; report is predict's own
    assert found["back_and_forth"] == 1
    assert found["back_and_forth_edges"] == ["core.predict:classify.<locals>.report -> app_pages.classify:update"]


def test_the_model_path_stops_at_classify_unless_the_model_is_used_below_it() -> None:
    inside = (PAGE_RUN, ANALYSE, TARGET, ("core.audio", "load_audio"))
    loads = (PAGE_RUN, (PAGE, "loaded_model"), ("ui.classify_data", "model"), LOAD, ("core.models.inference", "load"))
    runs = (PAGE_RUN, ANALYSE, TARGET, ("core.models.model_inputs", "predict_segments"),
            ("core.models.inference", "OnnxNetwork.run"))
    views = (PAGE_RUN, ("ui.classify_views", "timeline"))
    path = model_path([(inside, 1), (loads, 1), (runs, 1), (views, 1)])
    assert inside not in path and loads in path and runs in path
    assert model_path([(inside, 1)]) == {inside[:1], inside[:2], inside[:3]}  # down to classify, not below
    assert not any(("ui.classify_views", "timeline") in stack for stack in path)
