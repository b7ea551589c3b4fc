"""The list printer frees each list it makes after the statement that reads it last, and
makes a new list from one it reads for the last time in place on it
(:func:`hamopt.codegen.inplace_printer.freed`), so that a foreach step holds no full-size list
longer than its equations read it."""

import torch

import hamopt
from hamopt.codegen.inplace_printer import aliased, freed
from hamopt.kinetic import relativistic


def test_a_list_is_freed_after_the_statement_that_reads_it_last():
    lines = [
        "denoms = torch._foreach_sqrt(exp_avg_sqs)",
        "terms = torch._foreach_div(exp_avgs, denoms)",
        "others = torch._foreach_mul(exp_avgs, 2.0)",
        "torch._foreach_add_(terms, others)",
        "torch._foreach_add_(params, terms)",
    ]
    assert freed(lines, ["denoms", "terms", "others"]) == [
        *lines[:2],
        "del denoms",
        *lines[2:4],
        "del others",
        lines[4],
        "del terms",
    ]


def test_a_del_lands_after_a_whole_loop_or_if_else_and_joins_the_next_del():
    lines = [
        "if 1 in steps:",
        "    for exp_avg, grad in zip(exp_avgs, grads):",
        "        exp_avg.copy_(grad)",
        "else:",
        "    torch._foreach_lerp_(exp_avgs, grads, 0.1)",
        "del grads_2",
        "torch._foreach_add_(params, exp_avgs)",
    ]
    assert freed(lines, ["grads"]) == [*lines[:5], "del grads, grads_2", lines[6]]
    # a name inside another (grads in grads_2) is not read there; a del does not read
    assert freed(["x = f(grads_2)", "del grads"], ["grads"]) == ["x = f(grads_2)", "del grads"]


def test_a_list_of_its_own_read_last_by_a_call_that_makes_a_list_becomes_that_list():
    lines = [
        "denoms = torch._foreach_add(common_2_list, 1.0)  # the divisor",
        "terms = torch._foreach_div(common_3_list, denoms)",
        "others = torch._foreach_mul(grads, 2.0)",
        "torch._foreach_add_(params, terms)",
    ]
    names = ["common_2_list", "common_3_list", "denoms", "grads"]
    mine = ["common_2_list", "denoms"]  # not common_3_list; nor the gradients, the user's
    assert freed(lines, names, consumable=mine) == [
        "torch._foreach_add_(common_2_list, 1.0)  # the divisor",
        "denoms = common_2_list",
        "del common_2_list",
        lines[1],  # denoms is the divisor here, not the list the call starts from
        "del common_3_list, denoms",
        lines[2],
        "del grads",
        lines[3],
    ]
    # a call that reads the list twice is not made in place on it
    twice = ["squares = torch._foreach_mul(xs, xs)"]
    assert freed(twice, ["xs"], consumable=["xs"]) == [*twice, "del xs"]


def test_both_names_of_a_list_bound_twice_are_aliased():
    lines = ["qs = grads", "denoms = torch._foreach_exp(qs)", "    ws = results", "x = y + 1"]
    assert aliased(lines) == {"qs", "grads", "ws", "results"}


def test_a_derived_foreach_step_holds_at_most_four_lists(peak_bytes):
    """The relativistic energy by leapfrog with a diagonal mass: its position update reads
    three intermediates (√y + ε, v/(√y + ε) and its square) and makes two divisors. With each
    list freed after its last read the step holds four parameter-sized lists at its peak; with
    every list kept to the end of its equation, five."""
    cls = hamopt.derive(relativistic(), "leapfrog", "diagonal_mass", name="Relativistic").cls
    params = [torch.zeros(50_000, requires_grad=True) for _ in range(4)]
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = cls(params, foreach=True, nonfinite="ignore")
    optimizer.step()  # the state exists
    size = sum(p.numel() * p.element_size() for p in params)
    assert peak_bytes(optimizer.step) < 4 * size + 65536  # and a few bytes: numbers, counts
