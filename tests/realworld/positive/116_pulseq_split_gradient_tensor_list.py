# source: https://github.com/MRsources/pulseq-zero/issues/20
# hazard: silent-cut
# cause: 49, 54, 59, 89
# expect: assert
import torch

GRAD_RASTER = 1e-5


class TrapGrad:
    def __init__(self, channel, amplitude, rise_time, flat_time, fall_time, delay=0.0):
        self.channel, self.amplitude = channel, amplitude
        self.rise_time, self.flat_time, self.fall_time, self.delay = rise_time, flat_time, fall_time, delay

    @property
    def area(self):
        return self.amplitude * (self.rise_time / 2 + self.flat_time + self.fall_time / 2)

    @property
    def duration(self):
        return self.delay + self.rise_time + self.flat_time + self.fall_time


class FreeGrad:
    def __init__(self, channel, waveform, delay, tt):
        self.channel, self.waveform, self.delay, self.tt = channel, waveform, delay, tt

    @property
    def area(self):
        return 0.5 * ((self.tt[1:] - self.tt[:-1]) * (self.waveform[1:] + self.waveform[:-1])).sum()


def make_trapezoid(channel, amplitude, flat_time, rise_time=2 * GRAD_RASTER, delay=0.0):
    return TrapGrad(channel, amplitude, rise_time, flat_time, rise_time, delay)


def make_extended_trapezoid(channel, amplitudes, times):
    return FreeGrad(channel, amplitudes, times[0], times - times[0])


def calc_duration(grad):
    return grad.duration


def split_gradient(grad):
    total_duration = calc_duration(grad)
    ramp_up = make_extended_trapezoid(
        channel=grad.channel,
        amplitudes=torch.tensor([0, grad.amplitude]),
        times=torch.tensor([0, grad.rise_time]),
    )
    flat_top = make_extended_trapezoid(
        channel=grad.channel,
        amplitudes=torch.tensor([grad.amplitude, grad.amplitude]),
        times=torch.tensor([grad.rise_time, grad.rise_time + grad.flat_time]),
    )
    ramp_down = make_extended_trapezoid(
        channel=grad.channel,
        amplitudes=torch.tensor([grad.amplitude, 0]),
        times=torch.tensor([grad.rise_time + grad.flat_time, total_duration]),
    )
    return ramp_up, flat_top, ramp_down


def build_sequence(pre_amp, ro_amp):
    gx_pre = make_trapezoid("x", pre_amp, flat_time=4 * GRAD_RASTER)
    gx = make_trapezoid("x", ro_amp, flat_time=32 * GRAD_RASTER)
    return gx_pre, split_gradient(gx)


def echo_position_loss(gx_pre, readout_parts):
    ramp_up, flat_top, ramp_down = readout_parts
    # the echo sits where the accumulated area crosses zero: mid flat top
    k_center = gx_pre.area + ramp_up.area + 0.5 * flat_top.area
    return (k_center * 1e3) ** 2


pre_amp = torch.tensor(-200.0, requires_grad=True)
ro_amp = torch.tensor(100.0, requires_grad=True)
optimizer = torch.optim.Adam([pre_amp, ro_amp], lr=1.0)
for it in range(2):
    optimizer.zero_grad()
    loss = echo_position_loss(*build_sequence(pre_amp, ro_amp))
    loss.backward()
    optimizer.step()

# the split readout lost its link to ro_amp: only the prephaser is optimised
assert pre_amp.grad is not None
assert ro_amp.grad is None
