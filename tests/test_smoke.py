async def test_submit_and_complete(client, worker, account):
    from tests.factories import submit_ok, wait_for

    job = await submit_ok(client, account.headers, "I can't sleep before exams")
    done = await wait_for(client, account.headers, job["id"])
    assert done["status"] == "succeeded", done
