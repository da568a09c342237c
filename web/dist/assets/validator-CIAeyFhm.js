import{b2 as i}from"./index-B8TSwoOh.js";const n=o=>["",...i].includes(o);export{n as i};
