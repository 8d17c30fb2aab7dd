"""The skeleton both long operators share: a job on a plugin thread, polled from Blender's
main thread, either by a modal window timer (buttons: the UI keeps running) or by a loop in
execute (scripts and `blender -b`). Subclasses give the hooks; nothing here touches the job.
"""
import time


class PolledOperator:
    poll_seconds = 0.1

    # Hooks ----------------------------------------------------------------------------------
    def begin(self, context):
        """Starts the job; False (after a report) when it could not."""
        raise NotImplementedError

    def step(self, context):
        """Polls the job and shows its progress; True once it has ended."""
        raise NotImplementedError

    def end(self, context):
        """Collects the ended job; the operator's result."""
        raise NotImplementedError

    def active(self):
        """False once the job was dropped elsewhere (a Cancel button)."""
        raise NotImplementedError

    def escape(self, context):
        """Esc in the modal path: a result to stop with, or None to keep polling."""
        raise NotImplementedError

    def modal_begin(self, context):
        """UI set up when the modal path starts (a progress bar)."""

    def modal_tick(self, context):
        """UI refreshed after every poll in the modal path."""

    def modal_end(self, context):
        """UI torn down when the modal path stops."""

    def printed_progress(self):
        """A line for stdout in the execute path (None: nothing to print)."""
        return None

    # Operator methods -------------------------------------------------------------------------
    def execute(self, context):
        if not self.begin(context):
            return {"CANCELLED"}
        shown = None
        while not self.step(context):
            line = self.printed_progress()
            if line is not None and line != shown:
                print(line, flush=True)
                shown = line
            time.sleep(self.poll_seconds)
        return self.end(context)

    def invoke(self, context, _event):
        if not self.begin(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(self.poll_seconds, window=context.window)
        wm.modal_handler_add(self)
        self.modal_begin(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if not self.active():
            return self.stop(context, {"CANCELLED"})
        if event.type == "ESC":
            result = self.escape(context)
            return {"RUNNING_MODAL"} if result is None else self.stop(context, result)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        ended = self.step(context)
        self.modal_tick(context)
        if not ended:
            return {"PASS_THROUGH"}
        return self.stop(context, self.end(context))

    def stop(self, context, result):
        context.window_manager.event_timer_remove(self._timer)
        self.modal_end(context)
        return result
