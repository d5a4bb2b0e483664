import { fireEvent, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { RealTimeToggle } from './RealTimeToggle';
import { liveSnapshot, manualStore, renderWithStore } from '../test/store';

describe('RealTimeToggle', () => {
  it('switches between live and polling at a chosen interval', () => {
    const store = manualStore(liveSnapshot());
    renderWithStore(<RealTimeToggle />, store);
    const toggle = screen.getByRole('switch', { name: 'Real-time' });
    expect(toggle.getAttribute('aria-checked')).toBe('true');
    expect(screen.queryByRole('combobox')).toBeNull();

    fireEvent.click(toggle);
    expect(store.setMode).toHaveBeenLastCalledWith({ kind: 'polling', intervalS: 10 });
    expect(toggle.getAttribute('aria-checked')).toBe('false');
    const interval = screen.getByRole('combobox', { name: 'every' }) as HTMLSelectElement;
    expect([...interval.options].map((o) => o.value)).toEqual(['5', '10', '30', '60']);

    fireEvent.change(interval, { target: { value: '60' } });
    expect(store.setMode).toHaveBeenLastCalledWith({ kind: 'polling', intervalS: 60 });

    fireEvent.click(toggle);
    expect(store.setMode).toHaveBeenLastCalledWith({ kind: 'live' });
  });
});
