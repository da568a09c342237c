import{b1 as i}from"./index-CPZPPfF0.js";const n=o=>["",...i].includes(o);export{n as i};
